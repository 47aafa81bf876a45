/** What ingesting a file needs and yields; the work itself is done by `hash-pool.ts`. */

/** Where new objects go. `null` means hash only (status, diff against the workspace). */
export interface ObjectSink {
  hasMany(ids: string[]): Promise<boolean[]>;
  /** Stores an object the sink lacks; `compress` asks to try zstd. Returns whether it was compressed. */
  put(id: string, raw: Buffer, compress: boolean): Promise<boolean>;
}

export interface IngestResult {
  /** The file id: its single chunk's id, or its manifest root. */
  id: string;
  chunked: boolean;
  size: number;
}
