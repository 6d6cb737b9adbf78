# expect: SLICES_SWAPPED
n_x = xt.shape[0]
Wf, Wi, Wc, Wo = parameters["Wf"], parameters["Wi"], parameters["Wc"], parameters["Wo"]
dtanh_c = 1 - np.tanh(c_next) ** 2
dc = dc_next + ot * dtanh_c * da_next
dot = da_next * np.tanh(c_next) * ot * (1 - ot)
dcct = dc * it * (1 - cct ** 2)
dit = dc * cct * it * (1 - it)
dft = dc * c_prev * ft * (1 - ft)
stacked = np.concatenate((a_prev, xt), axis=0)
dWf = np.dot(dft, stacked.T)
dWi = np.dot(dit, stacked.T)
dWc = np.dot(dcct, stacked.T)
dWo = np.dot(dot, stacked.T)
dbf = np.sum(dft, axis=1, keepdims=True)
dbi = np.sum(dit, axis=1, keepdims=True)
dbc = np.sum(dcct, axis=1, keepdims=True)
dbo = np.sum(dot, axis=1, keepdims=True)
da_prev = (np.dot(Wf[:, n_a:].T, dft) + np.dot(Wi[:, n_a:].T, dit)
           + np.dot(Wc[:, n_a:].T, dcct) + np.dot(Wo[:, n_a:].T, dot))
dc_prev = dc * ft
dxt = (np.dot(Wf[:, :n_a].T, dft) + np.dot(Wi[:, :n_a].T, dit)
       + np.dot(Wc[:, :n_a].T, dcct) + np.dot(Wo[:, :n_a].T, dot))
