export * from './constants';
export * from './events';
export * from './ids';
export * from './turn';
export * from './search-attributes';
export * from './text';
export * from './failures';
export * from './keys';
