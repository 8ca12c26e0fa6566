package dev.moaa.transforms;

import java.util.Map;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PInput;
import org.apache.beam.sdk.values.POutput;
import org.apache.beam.sdk.values.PValue;
import org.apache.beam.sdk.values.TupleTag;

/**
 * The output of a composite with two results, typically what it made and what it refused.
 * Subclasses give the two collections their names.
 */
public abstract class TwoOutputs<A, B> implements POutput {
  private final Pipeline pipeline;
  private final PCollection<A> first;
  private final PCollection<B> second;
  private final String firstName;
  private final String secondName;

  protected TwoOutputs(PCollection<A> first, String firstName, PCollection<B> second, String secondName) {
    this.pipeline = first.getPipeline();
    this.first = first;
    this.second = second;
    this.firstName = firstName;
    this.secondName = secondName;
  }

  protected PCollection<A> first() {
    return first;
  }

  protected PCollection<B> second() {
    return second;
  }

  @Override
  public Pipeline getPipeline() {
    return pipeline;
  }

  @Override
  public Map<TupleTag<?>, PValue> expand() {
    return Map.of(new TupleTag<A>(firstName), first, new TupleTag<B>(secondName), second);
  }

  @Override
  public void finishSpecifyingOutput(String transformName, PInput input, PTransform<?, ?> transform) {}
}
