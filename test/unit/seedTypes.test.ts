/** Seed type inference: the narrowest type every non-empty value fits, decided in one pass per column. */
import { describe, expect, it } from 'vitest';
import { inferColumnType } from '../../src/run/seedTypes.js';

describe('seed column types', () => {
  it.each([
    [['1', '-2', '+3'], 'integer'],
    [['1', '2.5'], 'number'],
    [['1e3', '.5'], 'number'],
    [['007', '8'], 'text'], // leading zeros stay text
    [['5', '2024-01-01'], 'text'], // each type must fit every value, not only the later ones
    [['2024-01-01', '2024-02-29'], 'date'],
    [['2023-02-29'], 'text'], // not a calendar day
    [['2024-04-31'], 'text'],
    [['2024-01-01 10:00', '2024-01-02T11:30:15.5'], 'timestamp'],
    [['2024-01-01', '2024-01-02 00:00:00'], 'timestamp'],
    [['true', 'FALSE'], 'boolean'],
    [['', ''], 'text'],
    [['', '4'], 'integer'],
    [['9007199254740993'], 'number'], // beyond exact integers in JS
  ] as [string[], string][])('%j is %s', (values, type) => {
    expect(inferColumnType(values)).toBe(type);
  });
});
