package dev.moaa.transforms.limits;

/**
 * One held unit of a model's cluster-wide concurrency: a lease that the coordinator which granted
 * it renews until {@link Coordinator#release} (or until its process dies, after which the slot
 * comes back within the lease time to live). Hand it back to the coordinator that granted it.
 */
public final class Slot {
  private final String model;
  private final String id;

  Slot(String model, String id) {
    this.model = model;
    this.id = id;
  }

  /** The model whose concurrency this slot counts against. */
  public String model() { return model; }

  /** The lease id, unique in the cluster; names the coordinator that holds it. */
  public String id() { return id; }

  @Override
  public String toString() {
    return "Slot{" + model + ", " + id + "}";
  }
}
