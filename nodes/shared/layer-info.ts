import type { TaughtScores } from '../../src/hff/taught-classes';

/** The msg.hff that hff-layer writes and hff-classify reads at the end of a chain of layers. */
/** What hff-layer adds to a message: msg.hff. */
export interface LayerInfo {
  /** Id of the hff-model node. */
  model: string;
  layer: number;
  layers: number;
  /** First layer of this chain of hff-layer nodes. */
  fromLayer: number;
  batch: number;
  /** Per class, this layer's similarity to the class's closest prototype (an array per row for a batch). */
  scores: unknown;
  /** batch x classes scores of each layer of the chain so far, for hff-classify at the end of the chain. */
  classScores: Float32Array[];
  classes: number;
  /**
   * The taught classes' similarities and each input's familiarity, computed at layer 0 when the model has taught
   * classes (see TaughtClasses), so that the chain decides exactly as one pass does.
   */
  taught?: TaughtScores;
  /** Present when this message trained the layer. */
  trained?: { loss: number; correct: number };
}
