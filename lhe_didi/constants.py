"""Particle content and physics parameters shared by every module (GeV).

The parameters are those of the method paper's Table 1 and of the POWHEG hvq
samples in ``shared/data/hvq`` (m_t, Γ_t, m_W, Γ_W, m_b).
"""

TOP_MASS = 172.5
TOP_WIDTH = 1.453
W_MASS = 80.419
W_WIDTH = 2.048
B_MASS = 4.75

# Final-state slots of the six decay products, in the order used everywhere.
FINAL_STATE = ("b", "l+", "nu", "b~", "l-", "nu~")
B, LEPTON_PLUS, NEUTRINO, B_BAR, LEPTON_MINUS, NEUTRINO_BAR = range(6)

PDG_TOP = 6
PDG_W = 24
PDG_B = 5
CHARGED_LEPTONS = (11, 13, 15)  # e-, mu-, tau-; the positive lepton has the negative id
NEUTRINOS = (12, 14, 16)
LEPTON_NAMES = {11: "e", 13: "mu", 15: "tau"}
