/* Connects to $SSH_AUTH_SOCK, sends "ping\n" and prints the reply: run in
 * a build container to prove RUN --mount=type=ssh reaches the agent. Built
 * static by tests/build.rs (busybox images have no libc). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(void) {
    const char *path = getenv("SSH_AUTH_SOCK");
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    char reply[256];
    ssize_t n;
    int fd;
    if (!path || strlen(path) >= sizeof addr.sun_path) return 2;
    strcpy(addr.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("connect"); return 1; }
    if (write(fd, "ping\n", 5) != 5) return 1;
    n = read(fd, reply, sizeof reply - 1);
    if (n <= 0) return 1;
    reply[n] = 0;
    fputs(reply, stdout);
    return 0;
}
