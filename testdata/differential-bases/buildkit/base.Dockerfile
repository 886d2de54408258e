FROM busybox
RUN echo "svc:x:3000:" >> /etc/group && echo "svc:x:3000:3000::/srv/svc:/bin/sh" >> /etc/passwd && mkdir -p /srv/svc && chown svc:svc /srv/svc
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo from the base"]
HEALTHCHECK --interval=9s --retries=4 CMD ["true"]
ONBUILD COPY onbuild.txt /srv/svc/onbuild.txt
ONBUILD RUN echo "trigger ran" > /trigger.txt
WORKDIR /srv/svc
