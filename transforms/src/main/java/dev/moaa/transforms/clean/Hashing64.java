package dev.moaa.transforms.clean;

import java.util.List;

/** Stable 64-bit hashes of words and word sequences (FNV-1a folded through a SplitMix64 finaliser). */
final class Hashing64 {
  private Hashing64() {}

  static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
    z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
    return z ^ (z >>> 31);
  }

  /** The hash of {@code words[from, from + size)}, separated as if joined by spaces. */
  static long ofWords(List<String> words, int from, int size) {
    long h = 0xcbf29ce484222325L;
    for (int i = from; i < from + size; i++) {
      String w = words.get(i);
      for (int c = 0; c < w.length(); c++) {
        h ^= w.charAt(c);
        h *= 0x100000001b3L;
      }
      h ^= ' ';
      h *= 0x100000001b3L;
    }
    return mix(h ^ size);
  }
}
