ln first.txt second.txt
