// Loads vega-datasets' flights-3m.parquet into typed columns ordered by date, and formats rows as
// the CSV that tandem's flights example trains on.
//
// The file's `date` column is a TIMESTAMP(MICROS) with isAdjustedToUTC = false: it stores a
// wall-clock time with no zone. It is formatted with UTC calendar functions, which print the
// stored value unchanged whatever the machine's time zone is.

import { asyncBufferFromFile, parquetMetadataAsync, parquetRead } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'

export const CSV_HEADER = 'date,delay,distance,origin,destination'
const COLUMNS = ['date', 'delay', 'distance', 'origin', 'destination']

// Reads the whole file. Returns {rowCount, date (Float64Array, microseconds), delay, distance
// (Int32Array), origin, destination (string arrays)}, rows in file order.
export async function readFlightsParquet(path) {
  const file = await asyncBufferFromFile(path)
  const metadata = await parquetMetadataAsync(file)
  const rowCount = Number(metadata.num_rows)
  const columns = {
    date: new Float64Array(rowCount),
    delay: new Int32Array(rowCount),
    distance: new Int32Array(rowCount),
    origin: new Array(rowCount),
    destination: new Array(rowCount),
  }
  const filled = Object.fromEntries(COLUMNS.map((name) => [name, 0]))

  // Row groups arrive in any order, so each chunk is copied to its own row range.
  const onChunk = ({ columnName, columnData, rowStart, rowEnd }) => {
    const target = columns[columnName]
    if (!target) return
    for (let i = 0; i < rowEnd - rowStart; i++) {
      const value = columnData[i]
      if (value === null || value === undefined) {
        throw new Error(`${path}: column ${columnName} has a null at row ${rowStart + i}; ` +
                        'the converter expects a complete flights-3m.parquet')
      }
      target[rowStart + i] = typeof value === 'bigint' ? Number(value) : value
    }
    filled[columnName] += rowEnd - rowStart
  }
  await parquetRead({
    file, metadata, compressors, columns: COLUMNS, onChunk,
    // Microseconds since 1970 stay below 2^53 until the year 2255, so a double represents them exactly.
    parsers: { timestampFromMicroseconds: (micros) => Number(micros) },
  })

  for (const name of COLUMNS) {
    if (filled[name] !== rowCount) {
      throw new Error(`${path}: column ${name} has ${filled[name]} values, expected ${rowCount}`)
    }
  }
  return { rowCount, ...columns }
}

// Returns the row indices ordered by date; rows with equal dates keep their file order.
export function orderByDate(flights) {
  const order = new Uint32Array(flights.rowCount)
  for (let i = 0; i < order.length; i++) order[i] = i
  const date = flights.date
  // A typed-array sort is not guaranteed stable, so the row index breaks ties.
  order.sort((a, b) => (date[a] - date[b]) || (a - b))
  return order
}

const pad2 = (n) => (n < 10 ? '0' : '') + n

// Formats microseconds since 1970 (wall clock, no zone) as "YYYY-MM-DD HH:MM".
export function formatDate(micros) {
  const d = new Date(Math.floor(micros / 1000))
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ` +
         `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}`
}

// Quotes a CSV field when it contains a separator, a quote or a line break (RFC 4180).
function csvField(text) {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

// Returns row i as one CSV line with its trailing newline.
export function csvLine(flights, i) {
  return `${formatDate(flights.date[i])},${flights.delay[i]},${flights.distance[i]},` +
         `${csvField(flights.origin[i])},${csvField(flights.destination[i])}\n`
}

// Writes the header and the rows at `indices` (in that order) to `path`, through a temporary file
// renamed at the end so that a crash never leaves a partial CSV under the final name.
export async function writeCsv(path, flights, indices) {
  const { createWriteStream } = await import('node:fs')
  const { mkdir, rename } = await import('node:fs/promises')
  const { dirname } = await import('node:path')
  const { once } = await import('node:events')

  await mkdir(dirname(path), { recursive: true })
  const temporary = `${path}.partial`
  const out = createWriteStream(temporary)
  const write = async (text) => {
    if (!out.write(text)) await once(out, 'drain')
  }

  // Lines are joined into blocks of about 1 MB: one write per line would be slow.
  await write(CSV_HEADER + '\n')
  let block = ''
  for (const i of indices) {
    block += csvLine(flights, i)
    if (block.length >= 1 << 20) {
      await write(block)
      block = ''
    }
  }
  await write(block)
  out.end()
  await once(out, 'finish')
  await rename(temporary, path)
}
