#!/bin/sh
# Prints the CGI meta-variables (RFC 3875 §4.1) this script was started with.
printf 'Content-Type: text/plain; charset=utf-8\r\n\r\n'
printf 'CGI environment of %s (pid %s)\n\n' "$SCRIPT_NAME" "$$"
env | LC_ALL=C sort
