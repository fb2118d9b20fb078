"""Columnar container for a chunk of top-pair events (numpy float64 kinematics, awkward extras)."""

from __future__ import annotations

from dataclasses import dataclass, field

import awkward as ak
import numpy as np

# Roles that mother pointers of extra partons are expressed in, independent of record layout.
MOTHER_ROLES = ("none", "incoming1", "incoming2", "t", "t~", "W+", "W-")
EXTRA_FIELDS = {
    "pdg": 0,
    "colour1": 0,
    "colour2": 0,
    "E": 0.0,
    "px": 0.0,
    "py": 0.0,
    "pz": 0.0,
    "mass": 0.0,
    "mother1": 0,
    "mother2": 0,
}


def extras_array(per_event: list[list[dict]]) -> ak.Array:
    """Awkward array of extra partons (records with :data:`EXTRA_FIELDS`), typed even when all lists are empty."""
    return ak.Array(per_event + [[EXTRA_FIELDS]])[:-1]  # the sentinel fixes the record type


def momentum_fractions(total: np.ndarray, beam_energies: tuple[float, float]):
    """x1, x2 of massless incoming partons carrying the final-state momentum ``total`` (N, 4),
    and the mask of events where both lie in (0, 1]."""
    x1 = 0.5 * (total[:, 0] + total[:, 3]) / beam_energies[0]
    x2 = 0.5 * (total[:, 0] - total[:, 3]) / beam_energies[1]
    return x1, x2, (x1 > 0) & (x1 <= 1) & (x2 > 0) & (x2 <= 1)


@dataclass
class EventBatch:
    """A chunk of N dileptonic top-pair events.

    Four-momenta are (E, px, py, pz) in GeV, float64. The six decay products are
    stored in the order of :data:`lhe_didi.constants.FINAL_STATE`:
    b, l+, nu, b~, l-, nu~. Extra status-1 partons (NLO radiation) are kept as
    an awkward array of records with mother pointers given as indices into
    :data:`MOTHER_ROLES`. ``source_index`` pairs a transformed event with the
    input event it was made from (migration plots), -1 where unknown.
    """

    index: np.ndarray  # (N,) event number in the source file, 0-based
    momenta: np.ndarray  # (N, 6, 4)
    masses: np.ndarray  # (N, 6) external masses used to build energies
    pdg: np.ndarray  # (N, 6)
    colours: np.ndarray  # (N, 6, 2)
    incoming_pdg: np.ndarray  # (N, 2)
    incoming_colours: np.ndarray  # (N, 2, 2)
    incoming_momenta: np.ndarray  # (N, 2, 4)
    resonance_colours: np.ndarray  # (N, 4, 2) for t, t~, W+, W-
    extras: ak.Array  # (N, var) records: pdg, colour1, colour2, E, px, py, pz, mass, mother1, mother2
    process_id: np.ndarray  # (N,)
    weight: np.ndarray  # (N,) XWGTUP
    scale: np.ndarray  # (N,) SCALUP
    aqed: np.ndarray  # (N,)
    aqcd: np.ndarray  # (N,)
    source_index: (
        np.ndarray
    )  # (N,) input event a transformed event came from (its '#lhe-didi source-event' line), else -1
    radiation_comment: np.ndarray  # (N,) str: the event's POWHEG '#rwgt' comment line, '' if it has none
    history: np.ndarray  # (N,) int8 resonance history (lhe_didi.kinematics.histories): 0 t t~, 1 t W-, 2 t~ W+
    named_weights: dict[str, np.ndarray] = field(default_factory=dict)  # <rwgt> weights, (N,) each

    def __len__(self) -> int:
        return len(self.index)

    @property
    def extra_momentum(self) -> np.ndarray:
        """Summed four-momentum (E, px, py, pz) of the extra partons per event, shape (N, 4); zeros at LO."""
        if len(self) == 0:
            return np.zeros((0, 4))
        return np.stack([ak.to_numpy(ak.sum(self.extras[c], axis=1)) for c in ("E", "px", "py", "pz")], axis=1).astype(
            np.float64
        )

    @property
    def final_state_momentum(self) -> np.ndarray:
        """Summed four-momentum of the six decay products and the extra partons, shape (N, 4)."""
        return self.momenta.sum(axis=1) + self.extra_momentum

    @property
    def extra_transverse_momentum(self) -> np.ndarray:
        """Summed (px, py) of the extra partons per event, shape (N, 2); zeros at LO."""
        return self.extra_momentum[:, 1:3]

    def select(self, mask: np.ndarray) -> EventBatch:
        """The events where ``mask`` is true (boolean mask or index array), order kept."""
        fields = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            fields[name] = {k: v[mask] for k, v in value.items()} if name == "named_weights" else value[mask]
        return EventBatch(**fields)

    @property
    def n_extras(self) -> np.ndarray:
        """Number of extra partons per event, shape (N,)."""
        return ak.to_numpy(ak.num(self.extras, axis=1))

    def with_momenta(self, momenta: np.ndarray) -> EventBatch:
        """Copy of this batch with new decay-product momenta (N, 6, 4); everything else shared."""
        if momenta.shape != self.momenta.shape:
            raise ValueError(f"momenta shape {momenta.shape} != {self.momenta.shape}")
        clone = EventBatch(**{name: getattr(self, name) for name in self.__dataclass_fields__})
        clone.momenta = np.asarray(momenta, dtype=np.float64)
        return clone
