package dev.moaa.transforms.cache;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;

/**
 * The embedded cache: one SQLite database file in write-ahead-log mode. A write is committed before
 * {@link #put} returns, so an answer survives the process being killed right after it arrived.
 * Threads of one JVM share one connection (SQLite serializes writers anyway; a call is far slower
 * than a row lookup); other processes on the same machine may open the same file, and wait their
 * turn through SQLite's busy timeout.
 */
public final class SqliteResponseCache implements ResponseCache {
  private static final int BUSY_TIMEOUT_MS = 30_000;

  private final Path path;
  private final Connection connection;
  private final PreparedStatement select;
  private final PreparedStatement insert;
  private final PreparedStatement count;

  private SqliteResponseCache(Path path, Connection connection) throws SQLException {
    this.path = path;
    this.connection = connection;
    try (Statement s = connection.createStatement()) {
      s.execute("PRAGMA journal_mode=WAL");
      s.execute("PRAGMA synchronous=NORMAL");
      s.execute("CREATE TABLE IF NOT EXISTS answers ("
          + "call_hash TEXT PRIMARY KEY, model TEXT NOT NULL, stored_at_ms INTEGER NOT NULL, answer BLOB NOT NULL"
          + ") WITHOUT ROWID");
    }
    this.select = connection.prepareStatement("SELECT answer FROM answers WHERE call_hash = ?");
    this.insert = connection.prepareStatement(
        "INSERT OR IGNORE INTO answers (call_hash, model, stored_at_ms, answer) VALUES (?, ?, ?, ?)");
    this.count = connection.prepareStatement("SELECT count(*) FROM answers");
  }

  /** Opens (creating if needed) the database at {@code file}. */
  public static SqliteResponseCache open(String file) throws CacheException {
    Path path = Paths.get(file).toAbsolutePath();
    try {
      if (path.getParent() != null) {
        Files.createDirectories(path.getParent());
      }
      Properties p = new Properties();
      p.setProperty("busy_timeout", String.valueOf(BUSY_TIMEOUT_MS));
      // The driver class directly: no reliance on a JDBC service file surviving the jar's shading.
      Connection c = new org.sqlite.JDBC().connect("jdbc:sqlite:" + path, p);
      if (c == null) {
        throw new SQLException("the SQLite driver did not accept " + path);
      }
      return new SqliteResponseCache(path, c);
    } catch (IOException | SQLException e) {
      throw new CacheException("cannot open the response cache " + path + ": " + e.getMessage(), e);
    }
  }

  @Override
  public synchronized byte[] get(String key) throws CacheException {
    try {
      select.setString(1, key);
      try (ResultSet rs = select.executeQuery()) {
        return rs.next() ? rs.getBytes(1) : null;
      }
    } catch (SQLException e) {
      throw new CacheException("cannot read the response cache " + path + ": " + e.getMessage(), e);
    }
  }

  @Override
  public synchronized void put(String key, String model, byte[] answer) throws CacheException {
    try {
      insert.setString(1, key);
      insert.setString(2, model);
      insert.setLong(3, System.currentTimeMillis());
      insert.setBytes(4, answer);
      insert.executeUpdate();
    } catch (SQLException e) {
      throw new CacheException("cannot write the response cache " + path + ": " + e.getMessage(), e);
    }
  }

  @Override
  public synchronized long size() throws CacheException {
    try (ResultSet rs = count.executeQuery()) {
      return rs.next() ? rs.getLong(1) : 0;
    } catch (SQLException e) {
      throw new CacheException("cannot read the response cache " + path + ": " + e.getMessage(), e);
    }
  }

  @Override
  public synchronized void close() {
    try {
      connection.close();
    } catch (SQLException ignored) {
      // every write was committed when it was made
    }
  }

  @Override
  public String toString() {
    return "SQLite response cache " + path;
  }
}
