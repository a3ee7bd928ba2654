// The stream log's format, in one place: cursors (cursor.ts), rows (rows.ts), NOTIFY payloads (notify.ts).
// Pure code: the SQL that writes and reads it lives in activities/stream/ and client/store.ts.
export { SEGMENT_SIZE, cursorAt, segmentOf } from './cursor';
export { CompactedText, compactTextRun, decodeEventRow, encodeEventRow, isCompacted, type EventRow } from './rows';
export {
  EVENTS_CHANNEL,
  MAX_NOTIFY_PAYLOAD,
  decodeNotification,
  encodeAnnouncement,
  packPayloads,
  rereadAnnouncement,
  startedAnnouncement,
  type Announcement,
  type Doorbell,
} from './notify';
