"""Mini-batch optimal-transport coupling of the CFM training pairs."""

import pytest
import torch

from lhe_didi.training.coupling import optimal_transport_order, pair


def test_one_dimensional_optimal_transport_is_the_sorted_matching():
    # for a squared-distance cost in one dimension the optimal plan pairs equal ranks (monotone rearrangement)
    generator = torch.Generator().manual_seed(3)
    x0, x1 = torch.randn(300, 1, generator=generator), 2.0 + 0.5 * torch.randn(300, 1, generator=generator)
    order = optimal_transport_order(x0, x1, block=300)
    paired = x1[order][:, 0]
    ranks0 = torch.argsort(torch.argsort(x0[:, 0]))
    assert torch.equal(paired, torch.sort(x1[:, 0]).values[ranks0])


def test_blocks_are_permuted_separately_and_cost_goes_down():
    generator = torch.Generator().manual_seed(4)
    x0, x1 = torch.randn(1000, 17, generator=generator), torch.randn(1000, 17, generator=generator)
    order = optimal_transport_order(x0, x1, block=256)
    # a permutation that keeps every event in its own block of 256 (the last block has 232)
    assert sorted(order.tolist()) == list(range(1000))
    assert torch.equal(order // 256, torch.arange(1000) // 256)
    ot_cost = ((x1[order] - x0) ** 2).sum(1).mean()
    independent_cost = ((x1 - x0) ** 2).sum(1).mean()
    # two independent 17-D unit Gaussians: 34 on average; exact OT on blocks of 256 about a third of that
    assert independent_cost == pytest.approx(34.0, rel=0.05)
    assert ot_cost < 0.45 * independent_cost
    x0_same, x1_same = pair(x0, x1, "independent", 256)
    assert x0_same is x0 and x1_same is x1
    with pytest.raises(ValueError, match="unknown coupling"):
        pair(x0, x1, "sinkhorn", 256)
