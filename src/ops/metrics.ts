/**
 * Prometheus metrics in the text exposition format (version 0.0.4):
 * counters, gauges read at scrape time, and histograms, each with labels.
 * `prom-client` 15.1.3 runs under Deno (tried), but it requires Node's
 * cluster, fs, http, perf_hooks and zlib, and `src/` uses web-standard APIs
 * only; the format is small enough to write once. main.ts adds what needs
 * the runtime (process memory, event-loop lag).
 */

type Labels = Record<string, string | number>;

interface Metric {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge" | "histogram";
  lines(): string[];
}

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) =>
    `${k}="${String(v).replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`))}"`
  );
  return parts.length ? `{${parts.join(",")}}` : "";
}

/** A value per label set, in the order first seen. */
class Series<T> {
  readonly #values = new Map<string, { labels: Labels; value: T }>();
  constructor(readonly create: () => T) {}

  /** Called per SQL-door statement: the key is the label values, escaped only when rendered. */
  get(labels: Labels): T {
    let key = "";
    for (const name in labels) key += `${labels[name]}\u0000`;
    let entry = this.#values.get(key);
    if (!entry) this.#values.set(key, entry = { labels, value: this.create() });
    return entry.value;
  }

  entries(): { labels: Labels; value: T }[] {
    return [...this.#values.values()];
  }
}

export class Counter implements Metric {
  readonly type = "counter";
  readonly #series = new Series(() => ({ n: 0 }));
  constructor(readonly name: string, readonly help: string) {}

  inc(labels: Labels = {}, by = 1): void {
    this.#series.get(labels).n += by;
  }

  value(labels: Labels = {}): number {
    return this.#series.get(labels).n;
  }

  lines(): string[] {
    return this.#series.entries().map((e) => `${this.name}${labelText(e.labels)} ${e.value.n}`);
  }
}

/** A gauge whose values are read when scraped; or a counter kept elsewhere, read likewise. */
class Gauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly read: () => { labels?: Labels; value: number }[],
    readonly type: "gauge" | "counter" = "gauge",
  ) {}

  lines(): string[] {
    return this.read().filter((v) => Number.isFinite(v.value)).map((v) =>
      `${this.name}${labelText(v.labels ?? {})} ${v.value}`
    );
  }
}

/** Seconds, from 0.5 ms to 30 s: the SQL door's statements and HTTP requests alike. */
const LATENCY_BUCKETS = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];

export class Histogram implements Metric {
  readonly type = "histogram";
  readonly #series: Series<{ counts: number[]; sum: number; count: number }>;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[] = LATENCY_BUCKETS,
  ) {
    this.#series = new Series(() => ({ counts: buckets.map(() => 0), sum: 0, count: 0 }));
  }

  observe(labels: Labels, value: number): void {
    const s = this.#series.get(labels);
    s.count++;
    s.sum += value;
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) s.counts[i]++;
  }

  /**
   * The q-quantile of everything observed under `labels`, read off the
   * buckets (the upper bound of the bucket it falls in), as Prometheus'
   * histogram_quantile would roughly give: for the door's p50/p99 gauges.
   */
  quantile(labels: Labels, q: number): number {
    const s = this.#series.get(labels);
    if (!s.count) return NaN;
    const rank = q * s.count;
    const i = s.counts.findIndex((c) => c >= rank);
    return i === -1 ? Infinity : this.buckets[i];
  }

  lines(): string[] {
    const out: string[] = [];
    for (const { labels, value } of this.#series.entries()) {
      this.buckets.forEach((le, i) =>
        out.push(`${this.name}_bucket${labelText({ ...labels, le })} ${value.counts[i]}`)
      );
      out.push(`${this.name}_bucket${labelText({ ...labels, le: "+Inf" })} ${value.count}`);
      out.push(`${this.name}_sum${labelText(labels)} ${value.sum}`);
      out.push(`${this.name}_count${labelText(labels)} ${value.count}`);
    }
    return out;
  }
}

export class MetricsRegistry {
  readonly #metrics = new Map<string, Metric>();

  add<M extends Metric>(metric: M): M {
    if (this.#metrics.has(metric.name)) {
      throw new Error(`Metric ${metric.name} is registered twice`);
    }
    this.#metrics.set(metric.name, metric);
    return metric;
  }

  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help));
  }

  histogram(name: string, help: string): Histogram {
    return this.add(new Histogram(name, help));
  }

  gauge(name: string, help: string, read: Gauge["read"]): Gauge {
    return this.add(new Gauge(name, help, read));
  }

  /** A counter something else keeps (its `_total` name given), read at each scrape. */
  counterOf(name: string, help: string, read: Gauge["read"]): Gauge {
    return this.add(new Gauge(name, help, read, "counter"));
  }

  /** The exposition text; a gauge that fails to read is left out, not the whole scrape. */
  render(): string {
    let text = "";
    for (const metric of this.#metrics.values()) {
      let lines: string[];
      try {
        lines = metric.lines();
      } catch {
        continue;
      }
      text += `# HELP ${metric.name} ${metric.help}\n# TYPE ${metric.name} ${metric.type}\n`;
      for (const line of lines) text += line + "\n";
    }
    return text;
  }
}
