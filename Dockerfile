# syntax=docker/dockerfile:1
# Two stages: the pinned Bun (an npm devDependency, as on every developer machine and in CI) compiles the
# service into one executable; the final image holds that executable and nothing else of the build.
#   docker build -t tickets:local .
#   docker run --rm -p 8080:8080 tickets:local            # embedded mode, data in the /data volume

FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json bunfig.toml ./
COPY scripts ./scripts
COPY machines ./machines
COPY migrations ./migrations
COPY src ./src
RUN node scripts/build-binary.mjs --outfile /out/tickets \
 && mkdir -p /out/data

# distroless/cc: glibc (the executable links libc, libm, libpthread, libdl) and no shell, package
# manager or curl; the `nonroot` tag runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/tickets /app/tickets
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
ENV PORT=8080 \
    DATA_DIR=/data
# Embedded mode keeps its whole state here; distributed mode keeps the per-instance outbox buffer.
VOLUME ["/data"]
EXPOSE 8080
# No curl in the image: the executable checks itself (GET /health on 127.0.0.1:$PORT).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["/app/tickets", "healthcheck"]
ENTRYPOINT ["/app/tickets"]
CMD ["serve"]
