package dev.moaa.transforms.io;

import dev.moaa.schemas.Conversation;
import dev.moaa.schemas.Dropped;
import dev.moaa.transforms.TwoOutputs;
import org.apache.beam.sdk.values.PCollection;

/** What a step that removes conversations hands on: the ones kept, and a row per one dropped, with its reason. */
public final class KeptAndDropped extends TwoOutputs<Conversation, Dropped> {
  public KeptAndDropped(PCollection<Conversation> kept, PCollection<Dropped> dropped) {
    super(kept, "kept", dropped, "dropped");
  }

  public PCollection<Conversation> kept() {
    return first();
  }

  public PCollection<Dropped> dropped() {
    return second();
  }
}
