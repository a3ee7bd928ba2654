export * from './constants';
export * from './events';
export * from './ids';
export * from './turn';
export * from './search-attributes';
