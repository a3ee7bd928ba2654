import { defineSearchAttributeKey, TypedSearchAttributes } from '@temporalio/common';
import type { SearchAttributeType } from '@temporalio/common';
import type { SearchAttributeKey } from '@temporalio/common/lib/search-attributes';
import { SEARCH_ATTRIBUTES } from '../common';

/** The project's custom search attributes ({@link SEARCH_ATTRIBUTES}) as typed SDK keys. */
export function searchAttributeKeys(): SearchAttributeKey<SearchAttributeType>[] {
  return Object.entries(SEARCH_ATTRIBUTES).map(([name, type]) => defineSearchAttributeKey(name, type));
}

/** `--search-attribute Name=Type` arguments registering them on `temporal server start-dev`. */
export function searchAttributeCliArgs(): string[] {
  return searchAttributeKeys().flatMap(({ name, type }) => [
    '--search-attribute',
    `${name}=${TypedSearchAttributes.toMetadataType(type)}`,
  ]);
}
