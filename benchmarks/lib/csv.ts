// The CSV dataset: an order log as data teams keep them. Rows are in time order with sequential
// ids; products come from a catalog (name, category and price go together), customers and cities
// are skewed, coordinates cluster around the city, most comments are empty. Its compressibility
// is that of real tabular text, not of random digits (zstd -3 is reported beside dv for reference).
import { closeSync, openSync, readSync, renameSync, writeSync } from 'node:fs';
import { Xorshift } from './prng.js';

const WORDS =
  'able acid aged also area army away baby back ball band bank base bath bear beat bell belt best bill bird blow blue boat body bond bone book boom born boss both bowl bulk burn bush busy call calm came camp card care case cash cast cell chat chip city club coal coat code cold come cook cool copy core cost crew crop dark data date dawn deal dear debt deep desk dial diet disc disk door dose down draw drop dual dust duty earn ease east easy edge even exit face fact fail fair fall farm fast fear feed feel file fill film find fine fire firm fish five flat flow food foot form fort four free fuel full fund gain game gate gear gift give glad goal gold golf good gray grow hair half hall hand hard have head hear heat help here high hill hold hole home hope host hour huge hunt idea inch iron item join jump just keen keep kind king knee know lack lady lake land lane last late lead left less life lift like line link list live load loan lock logo long look lose loss love luck made mail main make many mark mass meal mean meat meet menu mile milk mill mind mine miss mode mood moon more most move much name navy near neck need news next nice nine none nose note okay once only open oral over pace pack page paid pain pair palm park part pass past path peak pick pink pipe plan play plot plug plus poll pool poor port post pull pure push race rail rain rank rare rate read real rear rent rest rice rich ride ring rise risk road rock role roll roof room root rose rule rush safe sale salt same sand save seat seed seek seem self sell send ship shop shot show sick side sign site size skin slip slow snow soft soil sold sole some song soon sort soul spot star stay step stop such suit sure take tale talk tall tank tape task team tell tend term test text than that them then thin this till time tiny told tone took tool tour town tree trip true tune turn twin type unit upon used user vary vast very view vote wage wait wake walk wall want warm wash wave ways weak wear week well west what when wide wife wild will wind wine wing wire wise wish with wood word work yard year your zero zone'.split(
    ' ',
  );

const CITIES: [string, number, number][] = [
  ['Amsterdam', 52.37, 4.9],
  ['Athens', 37.98, 23.73],
  ['Austin', 30.27, -97.74],
  ['Bangalore', 12.97, 77.59],
  ['Barcelona', 41.39, 2.17],
  ['Berlin', 52.52, 13.4],
  ['Bogota', 4.71, -74.07],
  ['Boston', 42.36, -71.06],
  ['Cairo', 30.04, 31.24],
  ['Chicago', 41.88, -87.63],
  ['Dublin', 53.35, -6.26],
  ['Istanbul', 41.01, 28.98],
  ['Jakarta', -6.2, 106.85],
  ['Lagos', 6.52, 3.38],
  ['Lima', -12.05, -77.04],
  ['Lisbon', 38.72, -9.14],
  ['London', 51.51, -0.13],
  ['Madrid', 40.42, -3.7],
  ['Mexico City', 19.43, -99.13],
  ['Mumbai', 19.08, 72.88],
  ['Nairobi', -1.29, 36.82],
  ['Osaka', 34.69, 135.5],
  ['Paris', 48.86, 2.35],
  ['Seoul', 37.57, 126.98],
  ['Singapore', 1.35, 103.82],
  ['Stockholm', 59.33, 18.07],
  ['Sydney', -33.87, 151.21],
  ['Tokyo', 35.68, 139.69],
  ['Toronto', 43.65, -79.38],
  ['Warsaw', 52.23, 21.01],
];
const CATEGORIES = [
  'books',
  'electronics',
  'garden',
  'grocery',
  'health',
  'home',
  'kitchen',
  'music',
  'office',
  'outdoor',
  'sports',
  'toys',
];
const STATUS: [string, number][] = [
  ['delivered', 0.8],
  ['shipped', 0.08],
  ['returned', 0.05],
  ['cancelled', 0.04],
  ['pending', 0.03],
];
const HEADER = 'id,date,time,customer,city,category,product,quantity,unit_price,discount,latitude,longitude,status,comment\n';

interface Product {
  name: string;
  category: string;
  price: string;
}

/** Deterministic row generator: the catalog and the skews are fixed by the seed. */
class Orders {
  readonly r: Xorshift;
  private readonly catalog: Product[] = [];
  private t = Date.UTC(2019, 0, 1) / 1000;
  /** Seconds between orders on average: 2 million rows span about three years. */
  private readonly gap = 45;

  constructor(seed: string) {
    this.r = new Xorshift(seed);
    const c = new Xorshift(`${seed}:catalog`);
    for (let i = 0; i < 2000; i++) {
      this.catalog.push({
        name: `${c.pick(WORDS)}-${c.pick(WORDS)}-${c.int(1, 999)}`,
        category: c.pick(CATEGORIES),
        price: (c.int(99, 49_999) / 100).toFixed(2),
      });
    }
  }

  /** Skewed towards small values: x in [0, n), about 1/3 of draws in the first 4% (a power law). */
  private skew(n: number, p = 3): number {
    return Math.floor(n * this.r.next() ** p);
  }

  /** The next order; `at` (date, time) places a late row beside an existing one. */
  row(id: number, at?: [string, string]): string {
    const r = this.r;
    let date: string;
    let time: string;
    if (at) [date, time] = at;
    else {
      this.t += Math.floor(-Math.log(1 - r.next()) * this.gap);
      const iso = new Date(this.t * 1000).toISOString();
      date = iso.slice(0, 10);
      time = iso.slice(11, 19);
    }
    const p = this.catalog[this.skew(this.catalog.length, 2)]!;
    const [city, lat, lon] = CITIES[this.skew(CITIES.length, 2)]!;
    const qty = 1 + this.skew(10, 4);
    const discount = r.next() < 0.7 ? 0 : r.int(1, 4) * 5;
    let u = r.next();
    let status = 'delivered';
    for (const [s, w] of STATUS) {
      u -= w;
      if (u < 0) {
        status = s;
        break;
      }
    }
    let comment = '';
    if (r.next() < 0.25) {
      const words: string[] = [];
      for (let i = r.int(2, 9); i > 0; i--) words.push(r.pick(WORDS));
      comment = r.next() < 0.3 ? `"${words.join(' ')}, ${r.pick(WORDS)}"` : words.join(' ');
    }
    const la = (lat + (r.next() - 0.5) * 0.2).toFixed(4);
    const lo = (lon + (r.next() - 0.5) * 0.2).toFixed(4);
    return `${id},${date},${time},c${100_000 + this.skew(60_000)},${city},${p.category},${p.name},${qty},${p.price},${discount},${la},${lo},${status},${comment}\n`;
  }
}

const MiB = 1 << 20;

/** Writes about `target` bytes of CSV (whole rows) to `file`. */
export function writeCsv(file: string, target: number, seed: string): { rows: number; bytes: number } {
  const gen = new Orders(`${seed}:csv`);
  const fd = openSync(file, 'w');
  let rows = 0;
  let bytes = 0;
  try {
    let block = HEADER;
    for (;;) {
      const row = gen.row(rows + 1);
      if (bytes + block.length + row.length > target) break;
      rows++;
      block += row;
      if (block.length > 4 * MiB) {
        bytes += writeSync(fd, block);
        block = '';
      }
    }
    bytes += writeSync(fd, block);
  } finally {
    closeSync(fd);
  }
  return { rows, bytes };
}

/**
 * Inserts a new row before each existing row with probability 1%: 1% new rows at random places,
 * each a late-arriving order with its neighbour's date and time and a new id.
 */
export function insertCsvRows(file: string, lastId: number, seed: string): void {
  const gen = new Orders(`${seed}:csv-insert`);
  const tmp = `${file}.tmp`;
  const inp = openSync(file, 'r');
  const out = openSync(tmp, 'w');
  const buf = Buffer.alloc(8 * MiB);
  let carry = '';
  let first = true;
  let id = lastId;
  try {
    for (;;) {
      const n = readSync(inp, buf, 0, buf.length, null);
      const text = carry + buf.toString('latin1', 0, n);
      const end = n === 0 ? text.length : text.lastIndexOf('\n') + 1;
      carry = text.slice(end);
      let chunk = '';
      for (const line of text.slice(0, end).split('\n')) {
        if (line === '') continue;
        if (!first && gen.r.next() < 0.01) {
          const f = line.split(',', 3);
          chunk += gen.row(++id, [f[1]!, f[2]!]);
        }
        first = false;
        chunk += `${line}\n`;
      }
      writeSync(out, chunk, null, 'latin1');
      if (n === 0) break;
    }
  } finally {
    closeSync(inp);
    closeSync(out);
  }
  renameSync(tmp, file);
}
