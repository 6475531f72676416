"""Shares between users of one server: who may see and change what, and how
shared entries reach the recipients' sync."""
