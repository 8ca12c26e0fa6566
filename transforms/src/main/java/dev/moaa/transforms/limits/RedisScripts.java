package dev.moaa.transforms.limits;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The Lua scripts of {@link RedisCoordinator}, each one atomic on the server. Time is the server's
 * ({@code TIME}), so workers with skewed clocks agree on when a lease expires. Numbers written to
 * Redis go through {@code string.format('%.0f')}: Lua would otherwise print large ones in
 * scientific notation.
 */
final class RedisScripts {
  private RedisScripts() {}

  /** A script and its SHA-1, for EVALSHA. */
  record Script(String name, String text, String sha) {
    static Script of(String name, String body) {
      String text = PRELUDE + body;
      try {
        byte[] d = MessageDigest.getInstance("SHA-1").digest(text.getBytes(StandardCharsets.UTF_8));
        return new Script(name, text, HexFormat.of().formatHex(d));
      } catch (NoSuchAlgorithmException e) {
        throw new IllegalStateException(e);
      }
    }
  }

  private static final String PRELUDE = """
      if redis.replicate_commands then pcall(redis.replicate_commands) end
      local function n(x) if x == 0 then return '0' end return string.format('%.0f', x) end
      local function now_ms() local t = redis.call('TIME') return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) end
      local function extend(key, ms) if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, n(ms)) end end
      local function reclaim(hash, leases, now)
        local gone = redis.call('ZRANGEBYSCORE', leases, '-inf', n(now))
        if #gone == 0 then return end
        local u, t = 0, 0
        for _, m in ipairs(gone) do
          local a, b = string.match(m, '|(%d+)|(%d+)$')
          u = u + tonumber(a)
          t = t + tonumber(b)
        end
        redis.call('ZREMRANGEBYSCORE', leases, '-inf', n(now))
        redis.call('HINCRBY', hash, 'reserved_uusd', n(-u))
        redis.call('HINCRBY', hash, 'reserved_tokens', n(-t))
        redis.call('HINCRBY', hash, 'expired', #gone)
      end
      """;

  /** KEYS: slots zset. ARGV: limit, lease ttl ms, lease id. 1 when taken. */
  static final Script ACQUIRE = Script.of("acquireSlot", """
      local now = now_ms()
      redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', n(now))
      if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
      local ttl = tonumber(ARGV[2])
      redis.call('ZADD', KEYS[1], n(now + ttl), ARGV[3])
      extend(KEYS[1], ttl + 60000)
      return 1
      """);

  /** KEYS: slots zset. Live leases. */
  static final Script COUNT = Script.of("slotsInUse", """
      redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', n(now_ms()))
      return redis.call('ZCARD', KEYS[1])
      """);

  /**
   * KEYS: slot zsets, then (optionally) the budget leases zset. ARGV: lease ttl ms, number of slot
   * zsets, then one member count per key, then the members in key order. Returns the members gone.
   */
  static final Script RENEW = Script.of("renew", """
      local now = now_ms()
      local ttl = tonumber(ARGV[1])
      local slotKeys = tonumber(ARGV[2])
      local exp = n(now + ttl)
      local lost = {}
      local i = 3 + #KEYS
      for k = 1, #KEYS do
        for j = 1, tonumber(ARGV[2 + k]) do
          local m = ARGV[i]
          i = i + 1
          if redis.call('ZSCORE', KEYS[k], m) then
            redis.call('ZADD', KEYS[k], 'XX', exp, m)
          else
            lost[#lost + 1] = m
          end
        end
        if k <= slotKeys then extend(KEYS[k], ttl + 60000) end
      end
      return lost
      """);

  /**
   * KEYS: rate hash, hold key. ARGV: rpm, tpm, estimated tokens, burst ms. 0 when admitted, else
   * the ms to wait. See {@link Pacing} for the arithmetic.
   */
  static final Script ADMIT = Script.of("admitRate", """
      local hold = redis.call('PTTL', KEYS[2])
      if hold > 0 then return hold end
      local t = redis.call('TIME')
      local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
      local rpm, tpm, est = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
      local burst = tonumber(ARGV[4]) * 1000
      local h = redis.call('HMGET', KEYS[1], 'req_tat', 'tok_tat')
      local rtat, ttat = tonumber(h[1] or '0'), tonumber(h[2] or '0')
      local function wait(tat, per, units)
        local cap = math.max(burst, per)
        return math.max(0, tat - now) + math.min(units * per, cap) - cap
      end
      local w, rper, tper = 0, 0, 0
      if rpm > 0 then rper = 60000000 / rpm; w = math.max(w, wait(rtat, rper, 1)) end
      if tpm > 0 then tper = 60000000 / tpm; w = math.max(w, wait(ttat, tper, est)) end
      if w > 0 then return math.max(1, math.ceil(w / 1000)) end
      local ahead = 0
      if rpm > 0 then
        rtat = math.max(rtat, now) + rper
        redis.call('HSET', KEYS[1], 'req_tat', n(rtat))
        ahead = rtat - now
      end
      if tpm > 0 then
        ttat = math.max(ttat, now) + tper * est
        redis.call('HSET', KEYS[1], 'tok_tat', n(ttat), 'tok_per', string.format('%.6f', tper))
        ahead = math.max(ahead, ttat - now)
      end
      if rpm > 0 or tpm > 0 then extend(KEYS[1], math.ceil(ahead / 1000) + 60000) end
      return 0
      """);

  /** KEYS: rate hash. ARGV: tokens used minus estimated. */
  static final Script CORRECT = Script.of("correctTokens", """
      local h = redis.call('HMGET', KEYS[1], 'tok_tat', 'tok_per')
      if not h[1] or not h[2] then return 0 end
      redis.call('HSET', KEYS[1], 'tok_tat', n(tonumber(h[1]) + tonumber(ARGV[1]) * tonumber(h[2])))
      return 1
      """);

  /** KEYS: hold key. ARGV: ms. Keeps a longer hold. */
  static final Script HOLD = Script.of("holdFor", """
      if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
        redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
      end
      return 1
      """);

  /** KEYS: adaptive key. ARGV: initial, keep ms. The current value (a Java double's string). */
  static final Script ADAPTIVE_GET = Script.of("adaptiveLimit", """
      local v = redis.call('GET', KEYS[1])
      if v then
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        return v
      end
      redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
      return ARGV[1]
      """);

  /** KEYS: adaptive key. ARGV: expected, next, keep ms. 1 when set. */
  static final Script ADAPTIVE_CAS = Script.of("compareAndSetAdaptiveLimit", """
      if redis.call('GET', KEYS[1]) == ARGV[1] then
        redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
        return 1
      end
      return 0
      """);

  /**
   * KEYS: budget hash, budget leases zset. ARGV: lease member, micro-USD, tokens, max micro-USD,
   * max tokens (0 = none), lease ttl ms, keep ms. 1 when reserved; 0 when refused (and closed).
   */
  static final Script RESERVE = Script.of("reserve", """
      local now = now_ms()
      reclaim(KEYS[1], KEYS[2], now)
      local h = redis.call('HMGET', KEYS[1], 'spent_uusd', 'spent_tokens', 'reserved_uusd', 'reserved_tokens', 'closed')
      local keep = ARGV[7]
      if h[5] == '1' then
        redis.call('HINCRBY', KEYS[1], 'refused', 1)
        return 0
      end
      local u, t = tonumber(ARGV[2]), tonumber(ARGV[3])
      local maxU, maxT = tonumber(ARGV[4]), tonumber(ARGV[5])
      local su, st = tonumber(h[1] or '0'), tonumber(h[2] or '0')
      local ru, rt = tonumber(h[3] or '0'), tonumber(h[4] or '0')
      if (maxU > 0 and su + ru + u > maxU) or (maxT > 0 and st + rt + t > maxT) then
        redis.call('HSET', KEYS[1], 'closed', '1')
        redis.call('HINCRBY', KEYS[1], 'refused', 1)
        redis.call('PEXPIRE', KEYS[1], keep)
        return 0
      end
      redis.call('HINCRBY', KEYS[1], 'reserved_uusd', ARGV[2])
      redis.call('HINCRBY', KEYS[1], 'reserved_tokens', ARGV[3])
      redis.call('ZADD', KEYS[2], n(now + tonumber(ARGV[6])), ARGV[1])
      redis.call('PEXPIRE', KEYS[1], keep)
      redis.call('PEXPIRE', KEYS[2], keep)
      return 1
      """);

  /**
   * KEYS: budget hash, budget leases zset. ARGV: lease member, micro-USD spent, tokens spent, keep
   * ms. Frees the reservation if its lease is still there; the spend always counts.
   */
  static final Script SETTLE = Script.of("settle", """
      if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then
        local a, b = string.match(ARGV[1], '|(%d+)|(%d+)$')
        redis.call('HINCRBY', KEYS[1], 'reserved_uusd', n(-tonumber(a)))
        redis.call('HINCRBY', KEYS[1], 'reserved_tokens', n(-tonumber(b)))
      end
      redis.call('HINCRBY', KEYS[1], 'spent_uusd', ARGV[2])
      redis.call('HINCRBY', KEYS[1], 'spent_tokens', ARGV[3])
      redis.call('PEXPIRE', KEYS[1], ARGV[4])
      return 1
      """);

  /** KEYS: budget hash, budget leases zset. The ledger's fields, after reclaiming expired leases. */
  static final Script BUDGET = Script.of("budget", """
      reclaim(KEYS[1], KEYS[2], now_ms())
      return redis.call('HMGET', KEYS[1], 'spent_uusd', 'spent_tokens', 'reserved_uusd', 'reserved_tokens', 'closed', 'refused')
      """);
}
