/**
 * `modules` in the template context: the parts of Python's datetime, re and pytz that dbt projects use
 * (`modules.datetime.datetime.now().strftime('%Y')`, `modules.re.match(...)`). Times are UTC.
 */

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

export class PyTimedelta {
  readonly ms: number;
  constructor(opts: { days?: number; hours?: number; minutes?: number; seconds?: number; weeks?: number; milliseconds?: number } = {}) {
    this.ms =
      ((opts.weeks ?? 0) * 7 * 86400 + (opts.days ?? 0) * 86400 + (opts.hours ?? 0) * 3600 + (opts.minutes ?? 0) * 60 + (opts.seconds ?? 0)) * 1000 +
      (opts.milliseconds ?? 0);
  }
  get days() {
    return Math.floor(this.ms / 86400000);
  }
  get seconds() {
    return Math.floor((this.ms - this.days * 86400000) / 1000);
  }
  get microseconds() {
    return Math.round((this.ms % 1000 + 1000) % 1000) * 1000;
  }
  total_seconds() {
    return this.ms / 1000;
  }
  __add__(other: unknown): unknown {
    if (other instanceof PyTimedelta) return new PyTimedelta({ milliseconds: this.ms + other.ms });
    if (other instanceof PyDatetime) return other.__add__(this);
    throw new Error('timedelta + requires a timedelta or datetime');
  }
  __sub__(other: unknown): PyTimedelta {
    if (other instanceof PyTimedelta) return new PyTimedelta({ milliseconds: this.ms - other.ms });
    throw new Error('timedelta - requires a timedelta');
  }
  /** Python's str(): `1 day, 2:03:04`, `0:00:30`. */
  toString(): string {
    const days = this.days;
    let rest = this.ms - days * 86400000;
    const h = Math.floor(rest / 3600000);
    rest -= h * 3600000;
    const m = Math.floor(rest / 60000);
    rest -= m * 60000;
    const sec = Math.floor(rest / 1000);
    const micro = Math.round(rest - sec * 1000) * 1000;
    const clock = `${h}:${pad(m)}:${pad(sec)}${micro ? `.${pad(micro, 6)}` : ''}`;
    return days ? `${days} day${Math.abs(days) === 1 ? '' : 's'}, ${clock}` : clock;
  }
}

export class PyDatetime {
  constructor(readonly jsDate: Date, readonly dateOnly = false) {}
  get year() { return this.jsDate.getUTCFullYear(); }
  get month() { return this.jsDate.getUTCMonth() + 1; }
  get day() { return this.jsDate.getUTCDate(); }
  get hour() { return this.jsDate.getUTCHours(); }
  get minute() { return this.jsDate.getUTCMinutes(); }
  get second() { return this.jsDate.getUTCSeconds(); }
  get microsecond() { return this.jsDate.getUTCMilliseconds() * 1000; }
  strftime(fmt: string): string {
    const d = this.jsDate;
    return fmt.replace(/%([a-zA-Z%])/g, (_m, c: string) => {
      switch (c) {
        case 'Y': return String(d.getUTCFullYear());
        case 'y': return pad(d.getUTCFullYear() % 100);
        case 'm': return pad(d.getUTCMonth() + 1);
        case 'd': return pad(d.getUTCDate());
        case 'H': return pad(d.getUTCHours());
        case 'I': return pad(((d.getUTCHours() + 11) % 12) + 1);
        case 'p': return d.getUTCHours() < 12 ? 'AM' : 'PM';
        case 'M': return pad(d.getUTCMinutes());
        case 'S': return pad(d.getUTCSeconds());
        case 'f': return pad(d.getUTCMilliseconds() * 1000, 6);
        case 'j': return pad(Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86400000) + 1, 3);
        case 'A': return DAYS[d.getUTCDay()];
        case 'a': return DAYS[d.getUTCDay()].slice(0, 3);
        case 'B': return MONTHS[d.getUTCMonth()];
        case 'b': return MONTHS[d.getUTCMonth()].slice(0, 3);
        case 'w': return String(d.getUTCDay());
        case 'z': return '+0000';
        case 'Z': return 'UTC';
        case '%': return '%';
        default: return `%${c}`;
      }
    });
  }
  isoformat(sep = 'T'): string {
    return this.dateOnly ? this.strftime('%Y-%m-%d') : this.strftime(`%Y-%m-%d${sep}%H:%M:%S.%f`).replace(/\.000000$/, '');
  }
  toString(): string {
    return this.dateOnly ? this.isoformat() : this.isoformat(' ');
  }
  timestamp(): number {
    return this.jsDate.getTime() / 1000;
  }
  date(): PyDatetime {
    return new PyDatetime(new Date(Date.UTC(this.year, this.month - 1, this.day)), true);
  }
  replace(kw: Record<string, number> = {}): PyDatetime {
    const d = new Date(Date.UTC(kw.year ?? this.year, (kw.month ?? this.month) - 1, kw.day ?? this.day,
      kw.hour ?? this.hour, kw.minute ?? this.minute, kw.second ?? this.second, Math.floor((kw.microsecond ?? this.microsecond) / 1000)));
    return new PyDatetime(d, this.dateOnly);
  }
  astimezone(): PyDatetime {
    return this;
  }
  weekday(): number {
    return (this.jsDate.getUTCDay() + 6) % 7;
  }
  __add__(other: unknown): PyDatetime {
    if (other instanceof PyTimedelta) return new PyDatetime(new Date(this.jsDate.getTime() + other.ms), this.dateOnly);
    throw new Error('datetime + requires a timedelta');
  }
  __sub__(other: unknown): PyDatetime | PyTimedelta {
    if (other instanceof PyTimedelta) return new PyDatetime(new Date(this.jsDate.getTime() - other.ms), this.dateOnly);
    if (other instanceof PyDatetime) return new PyTimedelta({ milliseconds: this.jsDate.getTime() - other.jsDate.getTime() });
    throw new Error('datetime - requires a timedelta or datetime');
  }
}
function kwOf(args: unknown[]): Record<string, number> {
  const last = args[args.length - 1] as Record<string, unknown> | undefined;
  return last && typeof last === 'object' && (last as { __keywords?: boolean }).__keywords ? (last as Record<string, number>) : {};
}

function parseIso(s: string): Date {
  const normalized = /^\d{4}-\d{2}-\d{2}$/.test(s) ? `${s}T00:00:00Z` : /[zZ]|[+-]\d{2}:?\d{2}$/.test(s) ? s : `${s.replace(' ', 'T')}Z`;
  const d = new Date(normalized);
  if (Number.isNaN(d.getTime())) throw new Error(`invalid isoformat string: '${s}'`);
  return d;
}

/** Python's datetime.strptime for the common directives; the whole string must match, as in Python. */
function strptime(s: string, fmt: string): Date {
  const fields: string[] = [];
  const names = (list: string[], n?: number) => list.map((x) => (n ? x.slice(0, n) : x)).join('|');
  const source = fmt.replace(/%([a-zA-Z%])|([.*+?^${}()|[\]\\])/g, (_m, d: string | undefined, lit: string | undefined) => {
    if (lit) return `\\${lit}`;
    const group = (re: string) => {
      fields.push(d!);
      return `(${re})`;
    };
    switch (d) {
      case 'Y': return group('\\d{4}');
      case 'y': return group('\\d{2}');
      case 'm': case 'd': case 'H': case 'I': case 'M': case 'S': return group('\\d{1,2}');
      case 'f': return group('\\d{1,6}');
      case 'j': return group('\\d{1,3}');
      case 'b': return group(names(MONTHS, 3));
      case 'B': return group(names(MONTHS));
      case 'a': return group(names(DAYS, 3));
      case 'A': return group(names(DAYS));
      case 'p': return group('AM|PM|am|pm');
      case 'z': return group('Z|[+-]\\d{2}:?\\d{2}');
      case 'Z': return group('UTC|GMT|Z');
      case '%': return '%';
      default: throw new Error(`strptime: unsupported directive %${d}`);
    }
  });
  const m = new RegExp(`^${source}$`, 'i').exec(s);
  if (!m) throw new Error(`time data '${s}' does not match format '${fmt}'`);
  const v = { Y: 1900, m: 1, d: 1, H: 0, M: 0, S: 0, ms: 0, offset: 0, pm: undefined as boolean | undefined, j: 0 };
  fields.forEach((f, i) => {
    const t = m[i + 1];
    switch (f) {
      case 'Y': v.Y = Number(t); break;
      case 'y': v.Y = Number(t) + (Number(t) < 69 ? 2000 : 1900); break;
      case 'm': v.m = Number(t); break;
      case 'd': v.d = Number(t); break;
      case 'H': case 'I': v.H = Number(t); break;
      case 'M': v.M = Number(t); break;
      case 'S': v.S = Number(t); break;
      case 'f': v.ms = Math.floor(Number(t.padEnd(6, '0')) / 1000); break;
      case 'j': v.j = Number(t); break;
      case 'b': case 'B': v.m = MONTHS.findIndex((n) => n.toLowerCase().startsWith(t.toLowerCase().slice(0, 3))) + 1; break;
      case 'p': v.pm = t.toUpperCase() === 'PM'; break;
      case 'z':
        if (t.toUpperCase() !== 'Z') {
          const [, sign, hh, mm] = /([+-])(\d{2}):?(\d{2})/.exec(t)!;
          v.offset = (sign === '-' ? -1 : 1) * (Number(hh) * 60 + Number(mm));
        }
        break;
      default: break;
    }
  });
  if (v.pm !== undefined) v.H = (v.H % 12) + (v.pm ? 12 : 0);
  const base = v.j ? Date.UTC(v.Y, 0, v.j, v.H, v.M, v.S, v.ms) : Date.UTC(v.Y, v.m - 1, v.d, v.H, v.M, v.S, v.ms);
  return new Date(base - v.offset * 60000);
}

const datetimeClass = Object.assign(
  (...args: unknown[]) => {
    const kw = kwOf(args);
    const [y = kw.year, mo = kw.month, d = kw.day, h = kw.hour ?? 0, mi = kw.minute ?? 0, s = kw.second ?? 0, us = kw.microsecond ?? 0] =
      args.filter((a) => typeof a === 'number') as number[];
    return new PyDatetime(new Date(Date.UTC(y, mo - 1, d, h, mi, s, Math.floor(us / 1000))));
  },
  {
    now: () => new PyDatetime(new Date()),
    utcnow: () => new PyDatetime(new Date()),
    today: () => new PyDatetime(new Date()),
    fromisoformat: (s: string) => new PyDatetime(parseIso(s)),
    strptime: (s: string, fmt?: string) => new PyDatetime(fmt === undefined ? parseIso(s) : strptime(s, fmt)),
    fromtimestamp: (t: number) => new PyDatetime(new Date(t * 1000)),
  },
);
const dateClass = Object.assign(
  (y: number, m: number, d: number) => new PyDatetime(new Date(Date.UTC(y, m - 1, d)), true),
  {
    today: () => new PyDatetime(new Date(), true).date(),
    fromisoformat: (s: string) => new PyDatetime(parseIso(s), true),
  },
);

/**
 * A Python regex as a JS RegExp: named groups `(?P<n>…)`, leading inline flags `(?i)`, `\A`/`\Z` anchors.
 * `wrap` anchors the pattern (match/fullmatch) after the inline flags are taken off.
 */
function pyRegex(pattern: string, flags = 0, wrap: (p: string) => string = (p) => p, extra = ''): RegExp {
  let p = pattern;
  let inline = '';
  const lead = /^\(\?([aiLmsux]+)\)/.exec(p);
  if (lead) {
    inline = lead[1];
    p = p.slice(lead[0].length);
  }
  const has = (bit: number, letter: string) => (flags & bit) !== 0 || inline.includes(letter);
  const f = (has(2, 'i') ? 'i' : '') + (has(8, 'm') ? 'm' : '') + (has(16, 's') ? 's' : '') + extra;
  p = p.replace(/\(\?P</g, '(?<').replace(/\(\?P=(\w+)\)/g, '\\k<$1>').replace(/\\A/g, '^').replace(/\\Z/g, '$(?![\\s\\S])');
  return new RegExp(wrap(p), f);
}

/** Python's re.sub replacement (`\1`, `\g<name>`) in JS form; a `$` stays literal. */
function jsReplacement(repl: string): string {
  return repl
    .replace(/\$/g, '$$$$')
    .replace(/\\g<(\d+)>/g, '$$$1')
    .replace(/\\g<(\w+)>/g, '$$<$1>')
    .replace(/\\(\d{1,2})/g, '$$$1')
    .replace(/\\n/g, '\n')
    .replace(/\\t/g, '\t')
    .replace(/\\\\/g, '\\');
}

class PyMatch {
  constructor(private readonly m: RegExpExecArray) {}
  group(i: number | string = 0) {
    return (typeof i === 'number' ? this.m[i] : this.m.groups?.[i]) ?? null;
  }
  groups() {
    return this.m.slice(1).map((g) => g ?? null);
  }
  groupdict() {
    return { ...(this.m.groups ?? {}) };
  }
  start() {
    return this.m.index;
  }
  end() {
    return this.m.index + this.m[0].length;
  }
}

const re = {
  IGNORECASE: 2, I: 2, MULTILINE: 8, M: 8, DOTALL: 16, S: 16,
  match: (p: string, s: string, flags?: number) => {
    const m = pyRegex(p, flags, (x) => `^(?:${x})`).exec(s);
    return m ? new PyMatch(m) : null;
  },
  fullmatch: (p: string, s: string, flags?: number) => {
    const m = pyRegex(p, flags, (x) => `^(?:${x})$`).exec(s);
    return m ? new PyMatch(m) : null;
  },
  search: (p: string, s: string, flags?: number) => {
    const m = pyRegex(p, flags).exec(s);
    return m ? new PyMatch(m) : null;
  },
  sub: (p: string, repl: string, s: string, ...rest: unknown[]) => {
    const kw = kwOf(rest);
    const count = (typeof rest[0] === 'number' ? rest[0] : kw.count) ?? 0;
    const flags = (typeof rest[1] === 'number' ? rest[1] : kw.flags) ?? 0;
    const js = jsReplacement(repl);
    if (!count) return s.replace(pyRegex(p, flags, undefined, 'g'), js);
    let n = 0;
    return s.replace(pyRegex(p, flags, undefined, 'g'), (...m) => {
      if (n++ >= count) return m[0] as string;
      const groups = m[m.length - 1] && typeof m[m.length - 1] === 'object' ? m.slice(0, -3) : m.slice(0, -2);
      return js.replace(/\$(\$|\d{1,2}|<(\w+)>)/g, (_t, ref: string, name?: string) =>
        ref === '$' ? '$' : name !== undefined ? String((m[m.length - 1] as Record<string, string>)?.[name] ?? '') : String(groups[Number(ref)] ?? ''));
    });
  },
  findall: (p: string, s: string, flags?: number) => {
    const r = pyRegex(p, flags, undefined, 'g');
    return [...s.matchAll(r)].map((m) => (m.length > 2 ? m.slice(1) : m.length === 2 ? m[1] : m[0]));
  },
  split: (p: string, s: string, maxsplit = 0, flags = 0) => {
    if (!maxsplit) return s.split(pyRegex(p, flags));
    const out: string[] = [];
    let last = 0;
    let splits = 0;
    for (const m of s.matchAll(pyRegex(p, flags, undefined, 'g'))) {
      if (splits++ >= maxsplit) break;
      out.push(s.slice(last, m.index), ...m.slice(1));
      last = m.index! + m[0].length;
    }
    return [...out, s.slice(last)];
  },
  escape: (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
  compile: (p: string, flags?: number) => ({
    match: (s: string) => re.match(p, s, flags),
    search: (s: string) => re.search(p, s, flags),
    findall: (s: string) => re.findall(p, s, flags),
    sub: (repl: string, s: string, count = 0) => re.sub(p, repl, s, count, flags ?? 0),
    fullmatch: (s: string) => re.fullmatch(p, s, flags),
    split: (s: string) => re.split(p, s, 0, flags ?? 0),
    pattern: p,
  }),
};

export const pythonModules = {
  datetime: {
    datetime: datetimeClass,
    date: dateClass,
    timedelta: (...args: unknown[]) => {
      const kw = kwOf(args);
      const days = typeof args[0] === 'number' ? args[0] : undefined;
      return new PyTimedelta({ ...kw, days: days ?? kw.days });
    },
    timezone: { utc: 'UTC' },
  },
  pytz: { utc: 'UTC', timezone: (name: string) => name },
  re,
  itertools: Object.assign(Object.create({ toString: () => "<module 'itertools'>" }) as Record<string, unknown>, {
    chain: (...arrs: unknown[][]) => arrs.flat(),
  }),
};
