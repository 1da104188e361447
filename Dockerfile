# labgate: the HTTP server (8080) and the SQL door (5435) in one process.
# Deno comes from the npm registry, like everywhere else labgate is built.
FROM node:22-bookworm-slim

ARG DENO_VERSION=2.9.6
RUN npm install -g "deno@${DENO_VERSION}" && npm cache clean --force

# A user of its own: labgate needs no privilege, and its data dir is the only place it writes.
RUN groupadd --system labgate && useradd --system --gid labgate --home-dir /app labgate \
  && mkdir -p /app /data && chown labgate:labgate /app /data
WORKDIR /app
USER labgate

ENV DENO_DIR=/app/.deno \
    DENO_NO_UPDATE_CHECK=1 \
    PORT=8080 \
    LABGATE_SQL_DOOR_PORT=5435 \
    LABGATE_DATA_DIR=/data

# Dependencies first, so a code change does not download them again.
COPY --chown=labgate:labgate deno.json deno.lock ./
RUN deno install
COPY --chown=labgate:labgate . .
RUN deno install && deno cache main.ts

# The embedded database lives here; with DATABASE_URL it stays empty.
VOLUME ["/data"]
EXPOSE 8080 5435

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD node -e "fetch('http://127.0.0.1:8080/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"

CMD ["deno", "task", "start"]
