chmod 0755 exec.sh
chmod 0600 secret.txt
chmod 0700 private-dir
chmod 0444 readonly.txt
