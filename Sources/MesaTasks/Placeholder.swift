import MesaTensor
