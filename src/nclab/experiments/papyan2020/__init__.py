"""Papyan, Han, Donoho (2020), *Prevalence of neural collapse during the terminal phase of deep learning
training* (PNAS; arXiv 2008.08186), measured on real PyTorch networks.

``COVERAGE`` maps the paper's four phenomena (as its abstract states them), their figures and the MSE
variant of Han, Papyan & Donoho (2022) to the claims of :mod:`.terminal_phase`. The paper's full text
was not available to us: the figure numbers are those the code has always cited and are declared
``known=False``; the phenomena themselves are stated in the abstract.
"""
from nclab.experiments.coverage import Item
from nclab.experiments.papyan2020 import terminal_phase

MODULES = (terminal_phase,)

_E = "papyan-terminal-phase"
_NEEDS_DATA = "not covered: needs the paper's data sets on disk and GPUs"

COVERAGE = (
    Item("NC1 (abstract)", "Within-class variability of the last-layer training features collapses to zero "
         "during the terminal phase (CE).", claims=(f"{_E}/ce-nc1-falls",)),
    Item("NC2 (abstract)", "The class means (and the classifier) approach a simplex ETF during the terminal phase "
         "(CE); measured here by the ETF error, not the paper's equinorm/equiangularity statistics.",
         claims=(f"{_E}/ce-nc2-etf-features-falls", f"{_E}/ce-nc2-etf-weight-falls")),
    Item("NC3 (abstract)", "Up to rescaling the classifier converges to the class means (self-duality) (CE).",
         claims=(f"{_E}/ce-nc3-duality-falls",)),
    Item("NC4 (abstract)", "The classifier's decisions collapse to the nearest class centre rule (CE).",
         claims=(f"{_E}/ce-nc4-ncc-mismatch-falls",)),
    Item("Figures 5-8", "NC1-NC4 curves against the epoch on log axes, falling by an order of magnitude or more "
         "over the terminal phase.", claims=tuple(f"{_E}/ce-{k}-falls" for k in (
             "nc1", "nc2-etf-features", "nc2-etf-weight", "nc3-duality", "nc4-ncc-mismatch")), known=False),
    Item("Han et al. 2022 (MSE)", "Neural collapse (NC1-NC4) also emerges in networks trained with MSE loss.",
         claims=tuple(f"{_E}/mse-{k}-falls" for k in (
             "nc1", "nc2-etf-features", "nc2-etf-weight", "nc3-duality", "nc4-ncc-mismatch"))),
    Item("Figures 2-4", "The NC2 statistics (equinorm, equiangularity, maximal angle) on seven data sets and "
         "three architectures (VGG, ResNet, DenseNet).", reason=_NEEDS_DATA, known=False),
    Item("Data sets × architectures of Figs. 5-8", "The same curves on MNIST, FashionMNIST, SVHN, CIFAR-10, "
         "CIFAR-100, STL-10 and ImageNet with three architectures.", reason=_NEEDS_DATA, known=False),
    Item("Test accuracy in the terminal phase", "Training beyond zero error improves test accuracy (table of "
         "accuracy at the zero-error epoch vs at the end).",
         reason="not covered: the test error is reported as a metric, no claim (needs the paper's data sets)",
         known=False),
    Item("Adversarial robustness", "The terminal phase improves robustness to adversarial perturbations.",
         reason="not covered: not implemented", known=False),
)
