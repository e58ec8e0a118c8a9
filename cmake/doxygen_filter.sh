#!/bin/sh
# Doxygen INPUT_FILTER for rnnc's headers: their comments are plain C
# comments (STYLE.md), so this turns them into Doxygen's: the file's first
# comment describes the file, a comment that starts a line documents what
# follows it, a comment after a declaration or member documents that one.
# In comments, backslashes and angle brackets are text, not commands or HTML.
exec sed -E \
  -e '/\/\*|^[[:space:]]*\*/{s#\\#\\\\#g;s#<([A-Za-z_0-9 .,/-]*)>#\&lt;\1\&gt;#g;s#@#\\@#g}' \
  -e '1s#^/\* #/** \\file #' \
  -e '2,$s#^([[:space:]]*)/\* #\1/** #' \
  -e 's#([;,)])([[:space:]]*)/\* #\1\2/**< #' \
  "$1"
