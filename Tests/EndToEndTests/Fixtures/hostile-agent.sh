#!/bin/sh
# A hostile agent: sends the broker garbage through fd 3 and prints each reply on stdout.
exec 4<&3
ask() { printf '%s\n' "$1" >&3; read -r reply <&4; printf '%s\n' "$reply"; }
ask '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}'
ask 'this is not json'
ask '{"jsonrpc":"2.0","id":2,"method":"system/escape"}'
ask '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"rm_everything","arguments":{}}}'
ask '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"delete_file","arguments":{"server":"10.0.12.45","path":"reports/2025-q4-revenue.csv"}}}'
ask '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"read_file","arguments":{"server":"10.0.12.45","path":"../../../../etc/shadow"}}}'
# A line longer than the policy's max_message_bytes: the broker drops the connection. The
# writer may die of SIGPIPE once it does, so it runs in a subshell.
(head -c 2000000 /dev/zero | tr '\0' 'x' >&3; printf '\n' >&3) 2>/dev/null
if read -r reply <&4; then printf 'after flood: %s\n' "$reply"; else echo "connection closed"; fi
