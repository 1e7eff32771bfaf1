/**
 * The account both import benchmarks use (bench/import.bench.test.ts in workerd, bench/import-cpu.ts in Node):
 * about 98,000 plays, close to Trakt's cap of 100,000. 5,000 movies and 1,080 shows of 8 seasons × 12 episodes
 * (a quarter of the shows watched half-way), 5% rewatched.
 */
export const IMPORT_ACCOUNT = {
  username: 'bench_import',
  seed: 'bench-import',
  movies: 5000,
  shows: 1080,
  seasons_per_show: 8,
  episodes_per_season: 12,
  plays_per_item: 1,
  rewatch_fraction: 0.05,
} as const;
