"""Notifications: the events services raise, the inbox, preferences and quiet
hours, and the outbox that delivers pushes."""
