chmod 4755 suid.sh
chmod 2750 sgid-dir
chmod 0600 private.txt
