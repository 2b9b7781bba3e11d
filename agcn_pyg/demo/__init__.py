"""The demo behind `agcn demo`: build the demo data set, train the Table-1 rows, write a report.

Stages (each timed; ``<out>/timings.json`` and the report list them):

1. **data**: the styled Fashion-MNIST scenes of `agcn_pyg.demo.data` under ``<out>/data``
   (idempotent: an identical build on disk is reused).
2. **setup**: the offline ImageNet weights of ``efficientnet_lite0`` converted under
   ``<out>/weights``, and the MiniLM label embeddings.
3. **end2end** (``--mode end2end`` or ``both``): rows trained end to end, backbone included,
   through `agcn_pyg.engine.train_mode`.
4. **extract** and **features** (``auto``, ``features``, ``both``): the frozen backbone's
   features of both splits, extracted once and cached; then every Table-1 row trained on them
   through `agcn_pyg.engine.train_mode`, the three main rows again with more seeds, and
   A-GCN for several α (Fig. 3, through `agcn_pyg.analysis.alpha_sweep`).
5. **table2** (with cached features, unless ``--no-table2``): the paper's Table 2 setting,
   the baseline, ML-GCN, A-GCN and the controls (Â = I; ML-GCN's graph on shuffled labels;
   ML-GCN's re-weighting without structure) trained on noisy labels (40 % of the positives
   dropped, `agcn_pyg.data.noise`) and then fine-tuned on a clean tenth of the training
   scenes from their noisy weights (``train.init_from``).
6. **report**: ``<out>/report.md`` with the Table-1-style tables, the per-class AP of the hard
   items against the others and against the context-only reference, the learned label graph
   beside the generator's true ``P(j | i)``, the Fig.-4-style AP deltas, the α sweep and the
   Table-2-style table, with the paired bootstrap of A-GCN against the Â = I control and,
   in each table, where ML-GCN's gain comes from: ML-GCN against its graph on shuffled
   labels (its correlations), against uniform mixing (its structure) and against Â = I
   (mixing at all), and Â = I against the baseline (the generated classifiers).

Why ``auto`` trains every row on cached features: on 2 CPU cores, end-to-end training of the
three main rows fits five minutes only at the scenes' 96 px and for a few epochs, which stays
below a frozen-feature probe; upsampled to 224 px, the frozen features do much better (the
search and its measurements: the repository's ``docs/experiments.md``, section 5).
``--mode both`` adds the main rows end to end.

The recipes are shipped configs (``configs/demo.yaml``, ``demo_features.yaml``,
``demo_finetune.yaml``); each row is its variant (`agcn_pyg.variants`) on its recipe, with the
settings that belong to its method.

``--quick`` is the same code path on the reduced data set (200 / 100 scenes), 96 px and fewer
epochs, for CI. Runs go to ``<out>/runs/<mode>/<row>``; each is removed and trained afresh on
every call, so the demo can be run again, and the same seed gives the same numbers on the same
machine.

Modules, one job each:

* `plan`: the recipes (shipped configs), `DemoPlan` (what one call trains) and the run configs
  of its rows;
* `data`: the data set generator (styled Fashion-MNIST scenes, ``datasets/demo/README.md``);
* `records`: what the stages record (`RowRun`, `Findings`, `StageTimer`);
* `stats`: the numbers behind the report (the paired bootstrap of two runs, through
  `agcn_pyg.analysis.bootstrap`; context-only AP; head diagnostics);
* `runner`: the stages, in order: data, set-up, training rows, the α sweep, Table 2, timings;
* `figures`: the learned label graph and the per-class AP deltas as PNGs;
* `report`: the tables, the plain reading and ``report.md``.

The tables and figures come from `agcn_pyg.analysis` (`results_table`, `plot_adjacency`,
`plot_ap_delta`, `alpha_sweep`); engine names come from `agcn_pyg.engine` only.
`agcn_pyg.commands.demo` is the CLI.
"""
