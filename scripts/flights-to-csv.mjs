// Converts flights-3m.parquet into the train and validation CSV files of tandem's flights example.
//
//   node scripts/flights-to-csv.mjs PARQUET OUT_DIR [--train-fraction 0.9] [--expect-rows N]
//
// Rows are ordered by date (ties keep file order). The earliest floor(fraction * rows) rows go to
// OUT_DIR/train/flights.csv, the rest to OUT_DIR/validation/flights.csv, so validation is a
// later period than training, as it would be for a model deployed after it was trained.
// Prints one JSON line with the counts and dates on success; exits 1 with a message otherwise.

import { parseArgs } from 'node:util'
import { join } from 'node:path'
import { formatDate, orderByDate, readFlightsParquet, writeCsv } from './lib/flights-parquet.mjs'

function parseCommandLine() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'train-fraction': { type: 'string', default: '0.9' },
      'expect-rows': { type: 'string' },
    },
  })
  if (positionals.length !== 2) {
    throw new Error('usage: node scripts/flights-to-csv.mjs PARQUET OUT_DIR ' +
                    '[--train-fraction 0.9] [--expect-rows N]')
  }
  const fraction = Number(values['train-fraction'])
  if (!(fraction > 0 && fraction < 1)) {
    throw new Error(`--train-fraction must be a number between 0 and 1, got "${values['train-fraction']}"`)
  }
  const expectRows = values['expect-rows'] === undefined ? undefined : Number(values['expect-rows'])
  return { parquet: positionals[0], outDir: positionals[1], fraction, expectRows }
}

async function main() {
  const args = parseCommandLine()
  const flights = await readFlightsParquet(args.parquet)
  if (args.expectRows !== undefined && flights.rowCount !== args.expectRows) {
    throw new Error(`${args.parquet} has ${flights.rowCount} rows, expected ${args.expectRows}`)
  }

  const order = orderByDate(flights)
  const trainRows = Math.floor(flights.rowCount * args.fraction)
  const train = order.subarray(0, trainRows)
  const validation = order.subarray(trainRows)
  await writeCsv(join(args.outDir, 'train', 'flights.csv'), flights, train)
  await writeCsv(join(args.outDir, 'validation', 'flights.csv'), flights, validation)

  const dateAt = (position) => formatDate(flights.date[order[position]])
  console.log(JSON.stringify({
    rows: flights.rowCount,
    train_rows: train.length,
    validation_rows: validation.length,
    train_dates: [dateAt(0), dateAt(trainRows - 1)],
    validation_dates: [dateAt(trainRows), dateAt(flights.rowCount - 1)],
  }))
}

main().catch((error) => {
  console.error(`flights-to-csv: ${error.message}`)
  process.exit(1)
})
