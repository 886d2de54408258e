setfattr -n user.note -v hello tagged.txt
