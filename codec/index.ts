export { AesGcmPayloadCodec, encryptionDataConverter, ENCRYPTED_ENCODING, KEY_ID_METADATA } from './aes-gcm-codec';
export { EncryptionKeys, type EncryptionKey } from './keys';
export { PayloadDecryptionError, UnknownEncryptionKeyError } from './errors';
export {
  CODEC_BODY_LIMIT_BYTES,
  codecRequestHandler,
  startCodecServer,
  type CodecServer,
  type CodecServerOptions,
} from './server';
