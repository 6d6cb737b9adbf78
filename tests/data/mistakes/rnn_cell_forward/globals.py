# expect: NOTEBOOK_GLOBALS
a_next = np.tanh(np.dot(Waa, a0) + np.dot(Wax, xt) + ba)
yt_pred = softmax(np.dot(Wya, a_next) + by)
