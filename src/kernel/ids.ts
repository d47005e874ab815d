/** The source of new ids; injected so tests can make them predictable. */
export interface IdSource {
  uuid(): string;
}

/** Time-ordered UUIDv7: index-friendly and sortable by creation. */
export const randomIds: IdSource = {
  uuid() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    const ms = Date.now();
    bytes[0] = Math.floor(ms / 2 ** 40) & 0xff;
    bytes[1] = Math.floor(ms / 2 ** 32) & 0xff;
    bytes[2] = (ms >>> 24) & 0xff;
    bytes[3] = (ms >>> 16) & 0xff;
    bytes[4] = (ms >>> 8) & 0xff;
    bytes[5] = ms & 0xff;
    bytes[6] = (bytes[6]! & 0x0f) | 0x70;
    bytes[8] = (bytes[8]! & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  },
};

/** Ids `00000000-0000-4000-8000-000000000001`, `…002`, …: readable in test failures. */
export function sequentialIds(prefix = '00000000-0000-4000-8000-'): IdSource {
  let n = 0;
  return { uuid: () => `${prefix}${(++n).toString(16).padStart(12, '0')}` };
}

export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
