# expect: C0_EQUALS_A0
a = np.zeros((n_a, m, T_x))
c = np.zeros((n_a, m, T_x))
y = np.zeros((n_y, m, T_x))
a_next = a0
c_next = a0
for t in range(T_x):
    a_next, c_next, yt, cache = lstm_cell_forward(x[:, :, t], a_next, c_next, parameters)
    a[:, :, t] = a_next
    c[:, :, t] = c_next
    y[:, :, t] = yt
    caches.append(cache)
