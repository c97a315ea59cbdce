#!/usr/bin/env bash
# Stats: descriptive statistics of data/raw.csv with wc and awk only.
# Writes data/stats.json, read by the "Report" step.
set -euo pipefail
export LC_ALL=C

project_dir="${ORCHEST_PROJECT_DIR:-$PWD}"
raw="$project_dir/data/raw.csv"
out="$project_dir/data/stats.json"

if [[ ! -f "$raw" ]]; then
  echo "error: $raw not found - run the 'Get data' step first" >&2
  exit 1
fi

lines=$(wc -l < "$raw")
rows=$((lines - 1))
columns=$(head -n 1 "$raw" | tr ',' '\n' | wc -l)
if (( rows < 1 )); then
  echo "error: $raw has no data rows" >&2
  exit 1
fi
echo "raw.csv: $rows rows x $columns columns, $(wc -c < "$raw") bytes"

awk -F, -v out="$out" '
{ sub(/\r$/, "") }  # tolerate CRLF line endings
NR == 1 {
  for (i = 1; i <= NF; i++) col[$i] = i
  split("day temperature_c is_weekend promo visitors sales_eur", need, " ")
  for (k in need) if (!(need[k] in col)) {
    print "error: raw.csv lacks the column " need[k] > "/dev/stderr"
    bad = 1
    exit 1
  }
  next
}
{
  n++
  t = $col["temperature_c"]; s = $col["sales_eur"]
  if (t == "") missing_t++
  else { nt++; sum_t += t; if (nt == 1 || t > max_t) { max_t = t; hot_day = $col["day"] } }
  if (s == "" || s < 0) { bad_s++; next }
  ns++; sum_s += s
  if (ns == 1 || s < min_s) min_s = s
  if (ns == 1 || s > max_s) max_s = s
  if ($col["is_weekend"] == 1) { nwe++; we += s } else { nwd++; wd += s }
  if ($col["promo"] == 1) { np++; pr += s } else { nnp++; npr += s }
}
END {
  if (bad) exit 1
  if (ns == 0 || nt == 0) { print "error: no valid sales or temperature readings" > "/dev/stderr"; exit 1 }
  mean_s = sum_s / ns
  mwe = nwe ? we / nwe : 0; mwd = nwd ? wd / nwd : 0
  mp = np ? pr / np : 0; mnp = nnp ? npr / nnp : 0
  printf "temperature: mean %.1f C, max %.1f C on %s, %d missing\n", sum_t / nt, max_t, hot_day, missing_t
  printf "sales: mean %.2f EUR/day, min %.2f, max %.2f, %d invalid\n", mean_s, min_s, max_s, bad_s
  printf "weekend days sell %.2f EUR on average vs %.2f on weekdays\n", mwe, mwd
  printf "promo days sell %.2f EUR on average vs %.2f without (%d promo days)\n", mp, mnp, np
  printf "{\n" > out
  printf "  \"rows\": %d,\n", n > out
  printf "  \"missing_temperature\": %d,\n", missing_t > out
  printf "  \"invalid_sales\": %d,\n", bad_s > out
  printf "  \"mean_temperature_c\": %.2f,\n", sum_t / nt > out
  printf "  \"max_temperature_c\": %.1f,\n", max_t > out
  printf "  \"hottest_day\": \"%s\",\n", hot_day > out
  printf "  \"mean_sales_eur\": %.2f,\n", mean_s > out
  printf "  \"min_sales_eur\": %.2f,\n", min_s > out
  printf "  \"max_sales_eur\": %.2f,\n", max_s > out
  printf "  \"mean_sales_weekend_eur\": %.2f,\n", mwe > out
  printf "  \"mean_sales_weekday_eur\": %.2f,\n", mwd > out
  printf "  \"mean_sales_promo_eur\": %.2f,\n", mp > out
  printf "  \"mean_sales_no_promo_eur\": %.2f,\n", mnp > out
  printf "  \"promo_days\": %d\n", np > out
  printf "}\n" > out
}' "$raw"

echo "wrote $out"
