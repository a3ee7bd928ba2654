import { TypedSearchAttributes } from '@temporalio/common';
import type { SearchAttributeType } from '@temporalio/common';
import type { SearchAttributeKey } from '@temporalio/common/lib/search-attributes';
import { searchAttributeKeys as keys } from '../common';

/** The project's custom search attributes (defined in common/search-attributes.ts) as a list of typed SDK keys. */
export function searchAttributeKeys(): SearchAttributeKey<SearchAttributeType>[] {
  return Object.values(keys);
}

/** `--search-attribute Name=Type` arguments registering them on `temporal server start-dev`. */
export function searchAttributeCliArgs(): string[] {
  return searchAttributeKeys().flatMap(({ name, type }) => [
    '--search-attribute',
    `${name}=${TypedSearchAttributes.toMetadataType(type)}`,
  ]);
}
