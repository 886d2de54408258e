mkdir -p t/sub
echo a > t/a.txt
echo b > t/sub/b.txt
chmod 0640 t/a.txt
tar --owner=0 --group=0 -cf archive.tar t
tar --owner=12 --group=34 -czf archive.tar.gz t
rm -r t
