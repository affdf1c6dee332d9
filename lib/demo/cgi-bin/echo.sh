#!/bin/sh
# Sends the request body back unchanged. CONTENT_LENGTH says how much to read
# (RFC 3875 §4.2: a script must not read past it); with it we also know the
# response length up front.
if [ -n "$CONTENT_LENGTH" ]; then
  printf 'Content-Type: text/plain\r\nContent-Length: %s\r\n\r\n' "$CONTENT_LENGTH"
  exec head -c "$CONTENT_LENGTH"
fi
printf 'Content-Type: text/plain\r\n\r\n'
