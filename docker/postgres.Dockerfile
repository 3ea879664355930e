# The database of a deployment of several lottery servers (storage.backend
# = postgresql): Debian 12's own PostgreSQL (15), on the same base image
# as the lottery image.
#
#   docker build -f docker/postgres.Dockerfile -t lottery-postgres:latest docker
#
# The build context is the docker/ folder: only postgres-entrypoint.sh is
# taken from it. docker/generate-compose.sh --postgres writes a service
# "postgres" that builds this image.
#
# The cluster is made at the first start, in /var/lib/postgresql/data
# (the volume compose mounts there), with the superuser "lottery" and the
# database "lottery". Connections from the container itself and from the
# networks it is attached to are trusted without a password: the port is
# never published, so only the containers of the deployment's own network
# reach it. Do not attach it to a network others share.

ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="lottery-postgres" \
      org.opencontainers.image.description="Lotería Nacional: the PostgreSQL database of several servers" \
      ar.loteria.stage=postgres

# Debian's packaging would make a cluster "main" at install time; the
# entrypoint makes its own in the volume instead.
RUN mkdir -p /etc/postgresql-common/createcluster.d \
 && echo 'create_main_cluster = false' \
      >/etc/postgresql-common/createcluster.d/no-main-cluster.conf \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      postgresql \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data \
 && install -d -o postgres -g postgres -m 2775 /run/postgresql

COPY postgres-entrypoint.sh /usr/local/bin/lottery-postgres-entrypoint
RUN chmod 0755 /usr/local/bin/lottery-postgres-entrypoint

ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data

USER postgres
WORKDIR /var/lib/postgresql
EXPOSE 5432
# PostgreSQL's "fast" shutdown: open transactions are rolled back, the
# rest is written out.
STOPSIGNAL SIGINT

ENTRYPOINT ["lottery-postgres-entrypoint"]
