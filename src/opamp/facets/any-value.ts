import type { AnyValue, KeyValue } from "../../gen/opamp/v1/anyvalue_pb.js";

/** An AnyValue as display text: strings as-is, scalars in their usual form, others as JSON. */
export function anyValueToString(value: AnyValue | undefined): string {
  const v = value?.value;
  switch (v?.case) {
    case "stringValue":
      return v.value;
    case "boolValue":
      return String(v.value);
    case "intValue":
      return v.value.toString();
    case "doubleValue":
      return String(v.value);
    case "bytesValue":
      return Buffer.from(v.value).toString("base64");
    case "arrayValue":
      return JSON.stringify(v.value.values.map((x) => anyValueToString(x)));
    case "kvlistValue":
      return JSON.stringify(keyValuesToRecord(v.value.values));
    default:
      return "";
  }
}

/** Repeated KeyValue → a plain record (a later duplicate key wins). */
export function keyValuesToRecord(values: readonly KeyValue[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of values) out[kv.key] = anyValueToString(kv.value);
  return out;
}
