package dev.moaa.transforms.input;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericEnumSymbol;
import org.apache.avro.generic.GenericFixed;
import org.apache.avro.generic.GenericRecord;

/**
 * Converts Avro values, as Parquet readers hand them out, into the plain Java values {@link
 * ConversationParser#parseRow} takes.
 *
 * <p>Conversions: {@code Utf8} and other {@link CharSequence}s and enum symbols become {@link
 * String}; arrays ({@code GenericData.Array} or any collection) become {@link List}; nested records
 * and Avro maps become {@link Map}s with {@link String} keys, in field order; {@link ByteBuffer}
 * and fixed values become {@code byte[]} copies; numbers, booleans and null are kept as they are.
 */
public final class AvroRows {

  private AvroRows() {}

  /**
   * The record's fields, in schema order, with every value converted as described above. The
   * record itself is not modified; the result is a fresh, mutable map.
   */
  public static Map<String, Object> toPlainMap(GenericRecord record) {
    Objects.requireNonNull(record, "record");
    List<Schema.Field> fields = record.getSchema().getFields();
    Map<String, Object> plain = new LinkedHashMap<>(fields.size() * 2);
    for (Schema.Field field : fields) {
      plain.put(field.name(), toPlain(record.get(field.pos())));
    }
    return plain;
  }

  private static Object toPlain(Object value) {
    if (value == null || value instanceof String) {
      return value;
    } else if (value instanceof CharSequence || value instanceof GenericEnumSymbol) {
      return value.toString();
    } else if (value instanceof GenericRecord) {
      return toPlainMap((GenericRecord) value);
    } else if (value instanceof Collection) {
      Collection<?> elements = (Collection<?>) value;
      List<Object> plain = new ArrayList<>(elements.size());
      for (Object element : elements) {
        plain.add(toPlain(element));
      }
      return plain;
    } else if (value instanceof Map) {
      Map<?, ?> entries = (Map<?, ?>) value;
      Map<String, Object> plain = new LinkedHashMap<>(entries.size() * 2);
      for (Map.Entry<?, ?> entry : entries.entrySet()) {
        plain.put(String.valueOf(entry.getKey()), toPlain(entry.getValue()));
      }
      return plain;
    } else if (value instanceof ByteBuffer) {
      ByteBuffer buffer = ((ByteBuffer) value).duplicate();
      byte[] bytes = new byte[buffer.remaining()];
      buffer.get(bytes);
      return bytes;
    } else if (value instanceof GenericFixed) {
      byte[] bytes = ((GenericFixed) value).bytes();
      return Arrays.copyOf(bytes, bytes.length);
    }
    return value;
  }
}
