# strata's own image, built by strata itself:
#
#   image/gather.sh target/release/strata     # the binary and its libraries
#   strata build -t strata .
#
# No internet is needed: the context holds a prebuilt `strata` and the
# shared libraries it links (image/gather.sh copies them), and the base is
# a busybox image already in the store (`strata import` of a busybox rootfs
# under the name `busybox:latest`, or pass --build-arg BASE=...).
# .dockerignore keeps the context to image/.
#
# The image runs strata as root inside an unprivileged container (no
# --privileged): strata re-executes itself in a user namespace. Run it with
#   --security-opt seccomp=unconfined --security-opt apparmor=unconfined
#   --security-opt systempaths=unconfined
# and a volume on /var/lib/strata (overlay cannot be mounted on the
# container's own overlay root). Under Docker's default profiles strata
# falls back to chroot isolation, with a loud warning (README, Rootless). RUN steps use `--network none` unless
# slirp4netns is added to the image. See docs/kubernetes.md.
ARG BASE=busybox:latest
FROM ${BASE}
COPY image/lib/ /lib/
COPY image/lib64/ /lib64/
COPY image/strata /usr/local/bin/strata
ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin
RUN mkdir -p /var/lib/strata /workspace && strata --version
VOLUME /var/lib/strata
WORKDIR /workspace
ENTRYPOINT ["/usr/local/bin/strata"]
CMD ["--help"]
