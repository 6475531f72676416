"""Accounts, sign-in and devices: passwords, access and refresh tokens, signing
keys, rate limits, and the devices a user has signed in from."""
